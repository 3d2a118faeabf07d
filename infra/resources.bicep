// Everything in the resource group. The function app reaches Storage (blob, queue and table, each
// with its data role), Application Insights and Web PubSub with its user-assigned managed identity;
// Web PubSub and Application Insights run with local auth disabled, Storage without shared keys.
// Web PubSub calls the app back (the hub's event handler, the `events` function) with a token of
// its own system-assigned identity, which the function checks (EventsIdentity* settings).
param location string
param tags object
param resourceToken string
param principalId string
@allowed(['User', 'Group', 'ServicePrincipal'])
param principalType string
param webPubSubSku string
param hubName string
param groupPresenceEvents bool
param eventHandlerAudience string
param eventsToQueue string
param presenceGroups string

var webPubSubServiceOwnerRoleId = '12cf5a90-567b-43ae-8102-96cf46c7d9b4'
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageQueueDataMessageSenderRoleId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
var deploymentContainerName = 'app-package-${resourceToken}'
// The idempotency store's table (setting IdempotencyTable); created here so the app never needs to.
var idempotencyTableName = 'IdempotencyKeys'
// The queue the events function puts user events on (setting EventsQueueName; the function's default name).
var eventsQueueName = 'client-events'
// The event handler's token audience (the `aud` the events function expects, EventsIdentityAudience):
// the app's own identity unless an Entra application is named.
var eventsAudience = empty(eventHandlerAudience) ? identity.properties.clientId : eventHandlerAudience
// Managed identity tokens for a resource without an app registration of its own are v1 tokens,
// issued by the tenant's sts.windows.net authority (EventsIdentityIssuer).
var eventsTokenIssuer = 'https://sts.windows.net/${tenant().tenantId}/'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-api-${resourceToken}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource idempotencyTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: idempotencyTableName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: eventsQueueName
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: 'wps-${resourceToken}'
  location: location
  tags: tags
  sku: {
    name: webPubSubSku
    capacity: 1
  }
  // Its own identity: the service obtains the event handler's bearer token with it.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-api-${resourceToken}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 100
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'WebPubSubEndpoint', value: 'https://${webPubSub.properties.hostName}' }
        { name: 'WebPubSubHub', value: hubName }
        { name: 'IdempotencyTable', value: idempotencyTable.name }
        { name: 'EventsIdentityIssuer', value: eventsTokenIssuer }
        { name: 'EventsIdentityAudience', value: eventsAudience }
        { name: 'EventsIdentityObjectId', value: webPubSub.identity.principalId }
        { name: 'EventsQueueName', value: eventsQueue.name }
        { name: 'EventsQueueEvents', value: eventsToQueue }
        { name: 'EventsPresenceGroups', value: presenceGroups }
      ]
    }
  }
  dependsOn: [deploymentContainer]
}

// Basic-auth publishing off: azd and Core Tools deploy to Flex Consumption with Entra ID tokens.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The hub and its event handler: every connect, connected, disconnected and user event goes to the
// `events` function, with a bearer token the service obtains for eventsAudience with its own
// identity. Two declarations of the same hub, exactly one deployed: group presence events need the
// preview API version, so the GA one stays the default (parameter groupPresenceEvents).
resource eventsHub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = if (!groupPresenceEvents) {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: 'https://${functionApp.properties.defaultHostName}/api/events'
        userEventPattern: '*'
        systemEvents: ['connect', 'connected', 'disconnected']
        auth: {
          type: 'ManagedIdentity'
          managedIdentity: {
            resource: eventsAudience
          }
        }
      }
    ]
  }
}

resource eventsHubWithPresence 'Microsoft.SignalRService/webPubSub/hubs@2025-08-01-preview' = if (groupPresenceEvents) {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: 'https://${functionApp.properties.defaultHostName}/api/events'
        userEventPattern: '*'
        systemEvents: ['connect', 'connected', 'disconnected']
        auth: {
          type: 'ManagedIdentity'
          managedIdentity: {
            resource: eventsAudience
          }
        }
        groupPresenceEvents: {
          eventNames: ['joined', 'left']
        }
      }
    ]
  }
}

resource webPubSubOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webPubSub.id, identity.id, webPubSubServiceOwnerRoleId)
  scope: webPubSub
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', webPubSubServiceOwnerRoleId)
  }
}

resource developerWebPubSubOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(webPubSub.id, principalId, webPubSubServiceOwnerRoleId)
  scope: webPubSub
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', webPubSubServiceOwnerRoleId)
  }
}

resource storageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
  }
}

resource storageQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributorRoleId)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
  }
}

// The events function sends to its one queue and needs nothing else there.
resource eventsQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, identity.id, storageQueueDataMessageSenderRoleId)
  scope: eventsQueue
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSenderRoleId)
  }
}

resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, monitoringMetricsPublisherRoleId)
  scope: appInsights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
  }
}

output functionAppName string = functionApp.name
output negotiateUrl string = 'https://${functionApp.properties.defaultHostName}/api/negotiate'
output publishUrl string = 'https://${functionApp.properties.defaultHostName}/api/publish'
output actionsUrl string = 'https://${functionApp.properties.defaultHostName}/api/actions'
output eventsUrl string = 'https://${functionApp.properties.defaultHostName}/api/events'
output webPubSubEndpoint string = 'https://${webPubSub.properties.hostName}'
